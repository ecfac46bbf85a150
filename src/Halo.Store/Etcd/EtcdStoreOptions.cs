namespace Halo.Store;

/// <summary>Where and how <see cref="EtcdStore"/> talks to etcd (v3 API, tested against 3.4).</summary>
public sealed class EtcdStoreOptions
{
    /// <summary>Comma-separated endpoints, e.g. "http://127.0.0.1:2379". Default the local etcd.</summary>
    public string Endpoints { get; set; } = "http://127.0.0.1:2379";

    /// <summary>Deadline of each unary call (not of watches). Default 5 s; 100 ms to 5 min.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Endpoints, nameof(Endpoints));
        ArgumentOutOfRangeException.ThrowIfLessThan(RequestTimeout, TimeSpan.FromMilliseconds(100), nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RequestTimeout, TimeSpan.FromMinutes(5), nameof(RequestTimeout));
    }
}
