using Halo.Core;

namespace Halo.Core.Tests;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("3s", 3000)]
    [InlineData("1m", 60_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5s", 1500)]
    [InlineData("0s", 0)]
    public void TryParse_ValidText_ReturnsDuration(string text, double milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(milliseconds, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3")]
    [InlineData("3x")]
    [InlineData("-1s")]
    [InlineData("s")]
    [InlineData("1mo")]
    public void TryParse_InvalidText_ReturnsFalse(string text) => Assert.False(Durations.TryParse(text, out _));
}
