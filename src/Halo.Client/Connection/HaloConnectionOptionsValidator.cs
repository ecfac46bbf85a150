using Microsoft.Extensions.Options;

namespace Halo.Client;

/// <summary>Resolves <see cref="HaloConnectionOptions"/> at start so a bad server list or token file fails the host, naming the key.</summary>
public sealed class HaloConnectionOptionsValidator : IValidateOptions<HaloConnectionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HaloConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.ToClientOptions();
            return ValidateOptionsResult.Success;
        }
        catch (HaloOptionsException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
