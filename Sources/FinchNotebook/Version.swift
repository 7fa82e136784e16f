/// The version `finch version` prints; it is also part of every memo-cache key, so a new version
/// never trusts results an older one stored.
public enum FinchVersion {
    public static let string = "0.1.0"
}
