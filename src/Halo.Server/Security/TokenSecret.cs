using System.Security.Cryptography;
using System.Text;

namespace Halo.Server.Security;

/// <summary>
/// Token secrets: 256 random bits from the OS generator, stored only as SHA-256 (a high-entropy secret needs no slow
/// hash), compared in constant time.
/// </summary>
public static class TokenSecret
{
    /// <summary>A secret given by an operator (a Kubernetes Secret, a file) must be at least this long.</summary>
    public const int MinLength = 32;

    public static string New() => "halo_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(ReadOnlySpan<char> secret)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(secret.Length, 512))];
        var n = Encoding.UTF8.GetBytes(secret.Length > 512 ? secret[..512] : secret, utf8);
        return SHA256.HashData(utf8[..n]);
    }

    /// <summary>The non-secret id of a token: the first 8 bytes of its hash, hex.</summary>
    public static string Id(byte[] hash) => Convert.ToHexStringLower(hash, 0, 8);

    /// <summary>Writes a secret to a new file only its owner can read (0600); replaces an existing one.</summary>
    public static async Task WriteFileAsync(string path, string secret, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.Delete(path);
        var file = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            file.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var stream = new FileStream(path, file);
        await using var writer = new StreamWriter(stream);
        await writer.WriteLineAsync(secret.AsMemory(), ct).ConfigureAwait(false);
    }

    public static bool Matches(byte[] hash, byte[] stored) => CryptographicOperations.FixedTimeEquals(hash, stored);
}
