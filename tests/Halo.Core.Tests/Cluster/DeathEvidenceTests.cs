using Halo.Core.Cluster;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Core.Tests.Cluster;

public sealed class DeathEvidenceTests
{
    private static readonly TimeSpan Span = TimeSpan.FromMilliseconds(200);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Refused_EnoughRefusalsOverTheSpan_Dead()
    {
        var evidence = new DeathEvidence(3, Span, _time);

        Assert.False(evidence.Refused());
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.False(evidence.Refused());
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(evidence.Refused());
    }

    [Fact]
    public void Refused_EnoughRefusalsWithinLessThanTheSpan_NotYetDead()
    {
        // A process restarting on its port gets the whole span to listen again, however fast the refusals come.
        var evidence = new DeathEvidence(3, Span, _time);

        for (var i = 0; i < 10; i++)
        {
            Assert.False(evidence.Refused());
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }

        _time.Advance(Span);
        Assert.True(evidence.Refused());
    }

    [Fact]
    public void Refused_TooFewRefusalsOverALongTime_NotDead()
    {
        var evidence = new DeathEvidence(3, Span, _time);

        Assert.False(evidence.Refused());
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(evidence.Refused());
    }

    [Fact]
    public void Accepted_BetweenRefusals_StartsTheCountAgain()
    {
        var evidence = new DeathEvidence(3, Span, _time);
        evidence.Refused();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        evidence.Refused();
        _time.Advance(TimeSpan.FromMilliseconds(100));

        evidence.Accepted();

        Assert.False(evidence.Refused());
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.False(evidence.Refused());
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(evidence.Refused());
    }

    [Fact]
    public void Constructor_FewerThanTwoRefusals_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeathEvidence(1, Span, _time));
    }
}
