// Line charts of training curves: a PNG raster, an SVG, and a Unicode braille plot for the terminal.
import Foundation

public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public init(name: String, points: [(x: Double, y: Double)]) { self.name = name; self.points = points.filter { $0.y.isFinite && $0.x.isFinite } }
}

public enum Chart {
    static let palette = [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40)]

    struct Scale {
        var lo: Double, hi: Double
        init(_ values: [Double], pad: Double) {
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if lo == hi { lo -= 0.5; hi += 0.5 }
            let p = (hi - lo) * pad
            self.lo = lo - p; self.hi = hi + p
        }
        func map(_ v: Double, _ a: Double, _ b: Double) -> Double { a + (v - lo) / (hi - lo) * (b - a) }
        /// "Nice" tick values (1, 2, 5 × 10^k steps).
        func ticks(_ count: Int = 5) -> [Double] {
            let raw = (hi - lo) / Double(count)
            guard raw.isFinite, raw > 0 else { return [lo] }
            let mag = pow(10, floor(log10(raw)))
            let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
            var t = (lo / step).rounded(.up) * step
            var out: [Double] = []
            // bounded: with huge magnitudes `t + step` can equal `t` in floating point
            while t <= hi + step * 1e-9 && out.count < 50 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
            return out
        }
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e5 || abs(v) < 1e-3 { return String(format: "%.1e", v) }
        if v == v.rounded() { return String(Int(v)) }
        var s = String(format: "%.3f", v)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    public static func png(_ series: [Series], width: Int = 800, height: Int = 480, xLabel: String = "step") -> Data {
        var c = Canvas(width: width, height: height)
        let left = 80, right = 20, top = 40, bottom = 50
        let allX = series.flatMap { $0.points.map(\.x) }, allY = series.flatMap { $0.points.map(\.y) }
        let sx = Scale(allX, pad: 0), sy = Scale(allY, pad: 0.05)
        let grid = RGB(225, 225, 225), axis = RGB(90, 90, 90)
        for t in sy.ticks() {
            let y = Int(sy.map(t, Double(height - bottom), Double(top)).rounded())
            c.line(left, y, width - right, y, grid)
            let l = label(t)
            c.text(l, x: left - 8 - Canvas.textWidth(l), y: y - 5, axis)
        }
        for t in sx.ticks(6) {
            let x = Int(sx.map(t, Double(left), Double(width - right)).rounded())
            c.line(x, top, x, height - bottom, grid)
            let l = label(t)
            c.text(l, x: x - Canvas.textWidth(l) / 2, y: height - bottom + 8, axis)
        }
        c.line(left, height - bottom, width - right, height - bottom, axis)
        c.line(left, top, left, height - bottom, axis)
        c.text(xLabel, x: (left + width - right) / 2 - Canvas.textWidth(xLabel) / 2, y: height - 20, axis)
        var legendX = left
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = s.points.map { (Int(sx.map($0.x, Double(left), Double(width - right)).rounded()), Int(sy.map($0.y, Double(height - bottom), Double(top)).rounded())) }
            if pts.count == 1 { c.fillRect(pts[0].0 - 2, pts[0].1 - 2, 5, 5, color) }
            for (a, b) in zip(pts, pts.dropFirst()) { c.line(a.0, a.1, b.0, b.1, color, thickness: 2) }
            c.fillRect(legendX, 14, 16, 4, color)
            c.text(s.name, x: legendX + 22, y: 11, color)
            legendX += 40 + Canvas.textWidth(s.name)
        }
        return c.png()
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static func svg(_ series: [Series], title: String, width: Int = 800, height: Int = 480, xLabel: String = "step") -> String {
        let left = 80.0, right = 20.0, top = 50.0, bottom = 50.0
        let w = Double(width), h = Double(height)
        let sx = Scale(series.flatMap { $0.points.map(\.x) }, pad: 0), sy = Scale(series.flatMap { $0.points.map(\.y) }, pad: 0.05)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(esc(title))</text>\n"
        for t in sy.ticks() {
            let y = sy.map(t, h - bottom, top)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(w - right)\" y2=\"\(y)\" stroke=\"#e1e1e1\"/><text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" fill=\"#555\">\(label(t))</text>\n"
        }
        for t in sx.ticks(6) {
            let x = sx.map(t, left, w - right)
            s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(h - bottom)\" stroke=\"#e1e1e1\"/><text x=\"\(x)\" y=\"\(h - bottom + 16)\" text-anchor=\"middle\" fill=\"#555\">\(label(t))</text>\n"
        }
        s += "<polyline points=\"\(left),\(top) \(left),\(h - bottom) \(w - right),\(h - bottom)\" fill=\"none\" stroke=\"#5a5a5a\"/>\n"
        s += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\" fill=\"#555\">\(esc(xLabel))</text>\n"
        var lx = left
        for (i, se) in series.enumerated() {
            let color = palette[i % palette.count].hex
            let pts = se.points.map { String(format: "%.2f,%.2f", sx.map($0.x, left, w - right), sy.map($0.y, h - bottom, top)) }.joined(separator: " ")
            s += "<polyline class=\"series\" data-name=\"\(esc(se.name))\" points=\"\(pts)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += "<rect x=\"\(lx)\" y=\"32\" width=\"16\" height=\"4\" fill=\"\(color)\"/><text x=\"\(lx + 22)\" y=\"38\" fill=\"\(color)\">\(esc(se.name))</text>\n"
            lx += 40 + Double(se.name.count) * 7
        }
        s += "</svg>\n"
        return s
    }

    /// A braille plot (2×4 dots per character) with y labels on the left and the x range below.
    public static func terminal(_ series: [Series], width: Int = 60, height: Int = 12, color: Bool = false) -> String {
        let allX = series.flatMap { $0.points.map(\.x) }, allY = series.flatMap { $0.points.map(\.y) }
        guard !allX.isEmpty else { return "(no data)\n" }
        let sx = Scale(allX, pad: 0), sy = Scale(allY, pad: 0)
        let dw = width * 2, dh = height * 4
        var cells = [[UInt8]](repeating: [UInt8](repeating: 0, count: width), count: height)
        var owner = [[Int]](repeating: [Int](repeating: -1, count: width), count: height)
        let bit: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]
        func dot(_ x: Int, _ y: Int, _ s: Int) {
            guard x >= 0, y >= 0, x < dw, y < dh else { return }
            cells[y / 4][x / 2] |= bit[x % 2][y % 4]
            owner[y / 4][x / 2] = s
        }
        for (si, s) in series.enumerated() {
            let pts = s.points.map { (Int(sx.map($0.x, 0, Double(dw - 1)).rounded()), Int(sy.map($0.y, Double(dh - 1), 0).rounded())) }
            if pts.count == 1 { dot(pts[0].0, pts[0].1, si) }
            for (a, b) in zip(pts, pts.dropFirst()) {
                let steps = max(abs(b.0 - a.0), abs(b.1 - a.1), 1)
                for k in 0...steps { dot(a.0 + (b.0 - a.0) * k / steps, a.1 + (b.1 - a.1) * k / steps, si) }
            }
        }
        let colors = ["\u{1B}[34m", "\u{1B}[33m", "\u{1B}[32m", "\u{1B}[31m"]
        let top = label(sy.hi), bottom = label(sy.lo)
        let lw = max(top.count, bottom.count)
        var out = ""
        for r in 0..<height {
            let lab = r == 0 ? top : (r == height - 1 ? bottom : "")
            out += String(repeating: " ", count: lw - lab.count) + lab + " ┤"
            for c in 0..<width {
                let ch = String(Character(Unicode.Scalar(0x2800 + UInt32(cells[r][c]))!))
                if color, owner[r][c] >= 0 { out += colors[owner[r][c] % colors.count] + ch + "\u{1B}[0m" } else { out += ch }
            }
            out += "\n"
        }
        let xl = label(sx.lo), xr = label(sx.hi)
        out += String(repeating: " ", count: lw + 1) + "└" + String(repeating: "─", count: width) + "\n"
        out += String(repeating: " ", count: lw + 2) + xl + String(repeating: " ", count: max(1, width - xl.count - xr.count)) + xr + "\n"
        if series.count > 1 || !(series.first?.name.isEmpty ?? true) {
            out += String(repeating: " ", count: lw + 2) + series.enumerated().map { i, s in
                color ? colors[i % colors.count] + "⣿ " + s.name + "\u{1B}[0m" : "⣿ " + s.name
            }.joined(separator: "  ") + "\n"
        }
        return out
    }
}
