import Foundation
@testable import FinchTensor

/// Straightforward f64 reference implementations of each op's forward, used both to check the
/// engine's forward results and, through central finite differences, its gradients.
enum Ref {
    static func linear(_ x: [Double], _ w: [Double], _ b: [Double]?, n: Int, inF: Int, outF: Int) -> [Double] {
        var y = [Double](repeating: 0, count: n * outF)
        for i in 0..<n { for o in 0..<outF {
            var s = b?[o] ?? 0
            for k in 0..<inF { s += x[i * inF + k] * w[o * inF + k] }
            y[i * outF + o] = s
        } }
        return y
    }

    static func matmul(_ a: [Double], _ b: [Double], batch: Int, ar: Int, ac: Int, br: Int, bc: Int, ta: Bool, tb: Bool) -> [Double] {
        let m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc
        var c = [Double](repeating: 0, count: batch * m * n)
        for bi in 0..<batch { for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for l in 0..<k {
                let av = ta ? a[bi * ar * ac + l * ac + i] : a[bi * ar * ac + i * ac + l]
                let bv = tb ? b[bi * br * bc + j * bc + l] : b[bi * br * bc + l * bc + j]
                s += av * bv
            }
            c[bi * m * n + i * n + j] = s
        } } }
        return c
    }

    static func rmsNorm(_ x: [Double], _ w: [Double], cols: Int, eps: Double) -> [Double] {
        var y = x
        for r in 0..<(x.count / cols) {
            var ss = 0.0
            for i in 0..<cols { ss += x[r * cols + i] * x[r * cols + i] }
            let s = 1 / (ss / Double(cols) + eps).squareRoot()
            for i in 0..<cols { y[r * cols + i] = x[r * cols + i] * s * w[i] }
        }
        return y
    }

    static func rope(_ x: [Double], positions: [Int], heads: Int, headDim: Int, invFreq: [Double], posScale: Double = 1) -> [Double] {
        var y = x
        let half = headDim / 2, c = heads * headDim
        for r in 0..<positions.count { for h in 0..<heads { for i in 0..<half {
            let a = x[r * c + h * headDim + i], b = x[r * c + h * headDim + i + half]
            let ang = Double(positions[r]) * posScale * invFreq[i]
            y[r * c + h * headDim + i] = a * cos(ang) - b * sin(ang)
            y[r * c + h * headDim + i + half] = b * cos(ang) + a * sin(ang)
        } } }
        return y
    }

    static func silu(_ z: Double) -> Double { z / (1 + exp(-z)) }

    static func attention(q: [Double], k: [Double], v: [Double], b: Int, t: Int, tk: Int, h: Int, kvh: Int, d: Int, offset: Int) -> [Double] {
        var out = [Double](repeating: 0, count: b * t * h * d)
        let rep = h / kvh, scale = 1 / Double(d).squareRoot()
        for bi in 0..<b { for hi in 0..<h { for i in 0..<t {
            let g = hi / rep
            let valid = offset + i + 1
            var scores = [Double](repeating: 0, count: valid)
            for j in 0..<valid {
                var s = 0.0
                for l in 0..<d { s += q[(bi * t + i) * h * d + hi * d + l] * k[(bi * tk + j) * kvh * d + g * d + l] }
                scores[j] = s * scale
            }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }
            let z = e.reduce(0, +)
            for l in 0..<d {
                var s = 0.0
                for j in 0..<valid { s += e[j] / z * v[(bi * tk + j) * kvh * d + g * d + l] }
                out[(bi * t + i) * h * d + hi * d + l] = s
            }
        } } }
        return out
    }

    static func logSoftmax(_ x: [Double], cols: Int) -> [Double] {
        var y = x
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)]
            let m = row.max()!
            let l = m + log(row.map { exp($0 - m) }.reduce(0, +))
            for i in 0..<cols { y[r * cols + i] = x[r * cols + i] - l }
        }
        return y
    }
}

/// Deterministic pseudo-random numbers for tests (SplitMix64).
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Double = -1, _ hi: Double = 1) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }
    mutating func array(_ n: Int, _ lo: Double = -1, _ hi: Double = 1) -> [Double] { (0..<n).map { _ in uniform(lo, hi) } }
}

func tensor(_ v: [Double], _ shape: [Int], grad: Bool = false) -> Tensor {
    let t = try! Tensor(v.map(Float.init), shape: shape)
    t.requiresGrad = grad
    return t
}

func maxRelError(_ a: [Double], _ b: [Double]) -> Double {
    let scale = max(b.map(abs).max() ?? 0, 1e-12)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

/// Checks an op against its f64 reference: the forward within `fwdTol`, and the gradient of
/// L = Σ r ⊙ op(inputs) for random r against central finite differences of the f64 reference.
func gradCheck(shapes: [[Int]], seed: UInt64 = 1, range: Double = 1, fwdTol: Double = 1e-4, gradTol: Double = 2e-3,
               op: ([Tensor]) throws -> Tensor, ref: ([[Double]]) -> [Double],
               file: String = #fileID, line: Int = #line) throws -> (fwd: Double, grads: [Double]) {
    var rng = TestRNG(seed)
    let values = shapes.map { rng.array($0.reduce(1, *), -range, range) }
    let inputs = zip(values, shapes).map { tensor($0, $1, grad: true) }
    let out = try op(inputs)
    let expected = ref(values)
    let fwdErr = maxRelError(out.toArray().map(Double.init), expected)
    let r = rng.array(out.count)
    try out.backward(seed: tensor(r, out.shape))
    var gradErrs: [Double] = []
    for (idx, v) in values.enumerated() {
        var numeric = [Double](repeating: 0, count: v.count)
        let eps = 1e-6
        for i in 0..<v.count {
            var plus = values, minus = values
            plus[idx][i] += eps
            minus[idx][i] -= eps
            let lp = zip(ref(plus), r).map(*).reduce(0, +)
            let lm = zip(ref(minus), r).map(*).reduce(0, +)
            numeric[i] = (lp - lm) / (2 * eps)
        }
        let analytic = inputs[idx].grad?.toArray().map(Double.init) ?? [Double](repeating: 0, count: v.count)
        gradErrs.append(maxRelError(analytic, numeric))
    }
    return (fwdErr, gradErrs)
}
