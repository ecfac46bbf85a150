using Halo.Core.Registry;
using Microsoft.Extensions.Options;

namespace Halo.Extensions.Hosting;

/// <summary>Checks <see cref="HaloRegistrationOptions"/> at start; each failure names the option ("Halo:Service: ...").</summary>
public sealed class HaloRegistrationOptionsValidator : IValidateOptions<HaloRegistrationOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HaloRegistrationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrEmpty(options.Service))
        {
            failures.Add("Halo:Service: required (the name callers use to find this application)");
        }
        else if (!Names.IsValid(options.Service))
        {
            failures.Add($"Halo:Service: '{options.Service}' is invalid: {Names.Rule}");
        }

        if (options.InstanceId is not null && !Names.IsValid(options.InstanceId))
        {
            failures.Add($"Halo:InstanceId: '{options.InstanceId}' is invalid: {Names.Rule}");
        }

        foreach (var address in options.Addresses)
        {
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort && !address.Contains(":80", StringComparison.Ordinal) && !address.Contains(":443", StringComparison.Ordinal))
            {
                failures.Add($"Halo:Addresses: '{address}' is not an http(s) URL with a port");
            }
        }

        Range(failures, "HeartbeatInterval", options.HeartbeatInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1));
        if (options.HealthCheckInterval != TimeSpan.Zero)
        {
            Range(failures, "HealthCheckInterval", options.HealthCheckInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        }

        Range(failures, "DrainDelay", options.DrainDelay, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        Range(failures, "DrainTimeout", options.DrainTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        Range(failures, "MaxRetryDelay", options.MaxRetryDelay, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        if (options.Weight is < 0 or > 1_000_000)
        {
            failures.Add($"Halo:Weight: {options.Weight} is out of range 0-1000000");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Range(List<string> failures, string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"Halo:{name}: {Core.Durations.Format(value)} is out of range {Core.Durations.Format(min)}-{Core.Durations.Format(max)}");
        }
    }
}
