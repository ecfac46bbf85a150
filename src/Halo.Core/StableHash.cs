namespace Halo.Core;

/// <summary>FNV-1a 64 with a murmur finaliser: stable across processes and runs (string.GetHashCode is not).</summary>
public static class StableHash
{
    public static ulong Of(string value)
    {
        var h = 14695981039346656037UL;
        foreach (var c in value)
        {
            h ^= c;
            h *= 1099511628211UL;
        }

        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }
}
