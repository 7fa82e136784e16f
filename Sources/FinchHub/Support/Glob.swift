// Shell-style globs as `huggingface_hub` / fsspec use them: `*` and `?` stay within one path
// component, `**` crosses `/`.
enum Glob {
    static func match(_ pattern: String, _ s: String) -> Bool {
        let p = Array(pattern), t = Array(s)
        func m(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            if p[i] == "*" {
                let double = i + 1 < p.count && p[i + 1] == "*"
                let next = double ? i + 2 : i + 1
                var k = j
                while true {
                    if m(next, k) { return true }
                    if k == t.count || (!double && t[k] == "/") { return false }
                    k += 1
                }
            }
            if j < t.count && (p[i] == "?" ? t[j] != "/" : p[i] == t[j]) { return m(i + 1, j + 1) }
            return false
        }
        return m(0, 0)
    }
}
