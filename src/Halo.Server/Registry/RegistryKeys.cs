namespace Halo.Server.Registry;

/// <summary>The store key layout of the registry. One place, so the feed, the API and the tools agree.</summary>
internal static class RegistryKeys
{
    public const string InstancesPrefix = "registry/instances/";
    public const string EventsPrefix = "events/";

    public static string Instance(string service, string id) => $"{InstancesPrefix}{service}/{id}";

    public static string ServicePrefix(string service) => $"{InstancesPrefix}{service}/";

    public static string Event(long sequence) => $"{EventsPrefix}{sequence:D16}";

    /// <summary>Splits "registry/instances/web/web-1" into ("web", "web-1").</summary>
    public static bool TryParseInstance(string key, out string service, out string id)
    {
        service = id = "";
        if (!key.StartsWith(InstancesPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = key.AsSpan(InstancesPrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
        {
            return false;
        }

        service = rest[..slash].ToString();
        id = rest[(slash + 1)..].ToString();
        return true;
    }
}
