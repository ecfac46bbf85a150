using System.Text;

namespace Halo.Store;

/// <summary>Byte-level key helpers shared by the stores: keys are ordered and prefixed as UTF-8 bytes, as etcd does.</summary>
internal static class KeyRange
{
    public static byte[] ToBytes(string key) => Encoding.UTF8.GetBytes(key);

    public static string FromBytes(ReadOnlySpan<byte> key) => Encoding.UTF8.GetString(key);

    /// <summary>
    /// The smallest key greater than every key starting with <paramref name="prefix"/> (etcd's GetPrefixRangeEnd),
    /// or null when no such key exists (empty prefix or all 0xff): the range is then open-ended.
    /// </summary>
    public static byte[]? PrefixEnd(byte[] prefix)
    {
        for (var i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] < 0xff)
            {
                var end = prefix.AsSpan(0, i + 1).ToArray();
                end[i]++;
                return end;
            }
        }

        return null;
    }
}
