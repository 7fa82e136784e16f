// The syntax tree. Every node carries the position the user wrote it at.

public struct Expr: Sendable {
    public var kind: ExprKind
    public var pos: Pos
    public init(_ kind: ExprKind, _ pos: Pos) { self.kind = kind; self.pos = pos }
}

public enum UnaryOp: String, Sendable { case neg = "-", pos = "+", not = "not" }
public enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", floorDiv = "//", mod = "%", pow = "**"
}
public enum CompareOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", isIn = "in", notIn = "not in", isSame = "is", isNot = "is not"
}

public enum FPart: Sendable {
    case text(String)
    case expr(Expr, conversion: Character?, spec: String)
}

public enum CallArg: Sendable {
    case positional(Expr)
    case keyword(String, Expr, Pos)
    /// `*items`: every element as a positional argument.
    case unpackList(Expr)
    /// `**options`: every key of a dict as a keyword argument.
    case unpackDict(Expr)
}

public struct ParamDecl: Sendable {
    public var name: String
    public var defaultValue: Expr?
    public var pos: Pos
}

public struct Comprehension: Sendable {
    public var target: Target
    public var iterable: Expr
    public var conditions: [Expr]
}

public indirect enum ExprKind: Sendable {
    case literal(Value)
    case fstring([FPart])
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    case unary(UnaryOp, Expr)
    case binary(BinaryOp, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    /// `a < b <= c`: each comparison with the previous operand.
    case compare(Expr, [(CompareOp, Expr, Pos)])
    case ternary(cond: Expr, then: Expr, else: Expr)
    case call(Expr, [CallArg])
    case attribute(Expr, String)
    case index(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case lambda(FunctionDecl)
    case listComp(Expr, [Comprehension])
    case dictComp(Expr, Expr, [Comprehension])
}

public indirect enum Target: Sendable {
    case name(String, Pos)
    case index(Expr, Expr, Pos)
    case attribute(Expr, String, Pos)
    case tuple([Target], Pos)
}

public final class FunctionDecl: @unchecked Sendable {
    public let name: String
    public let params: [ParamDecl]
    public let body: [Stmt]
    /// Lambdas have a single expression body.
    public let expression: Expr?
    public let pos: Pos
    public let doc: String?
    init(name: String, params: [ParamDecl], body: [Stmt], expression: Expr?, pos: Pos) {
        self.name = name; self.params = params; self.body = body; self.expression = expression; self.pos = pos
        if case .expr(let e)? = body.first?.kind, case .literal(.string(let s)) = e.kind { doc = s } else { doc = nil }
    }
}

public struct Stmt: Sendable {
    public var kind: StmtKind
    public var pos: Pos
    public init(_ kind: StmtKind, _ pos: Pos) { self.kind = kind; self.pos = pos }
}

public struct IfBranch: Sendable {
    public var condition: Expr
    public var body: [Stmt]
}

public indirect enum StmtKind: Sendable {
    case expr(Expr)
    case assign([Target], Expr)
    case augAssign(Target, BinaryOp, Expr)
    case ifElse([IfBranch], [Stmt]?)
    case whileLoop(Expr, [Stmt])
    case forLoop(Target, Expr, [Stmt])
    case breakLoop
    case continueLoop
    case pass
    case returnValue(Expr?)
    case def(FunctionDecl)
    case use(String)
    case assert(Expr, Expr?)
}
