using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

public class DetectorOptionsValidatorTests
{
    private static readonly DetectorOptions Valid = new();

    public static TheoryData<string, DetectorOptions> BadOptions => new()
    {
        { "kind", Valid with { Kind = (DetectorKind)42 } },
        { "heartbeatInterval", Valid with { HeartbeatInterval = TimeSpan.FromMilliseconds(49) } },
        { "heartbeatInterval", Valid with { HeartbeatInterval = TimeSpan.FromHours(2) } },
        { "missedHeartbeats", Valid with { MissedHeartbeats = 0 } },
        { "missedHeartbeats", Valid with { MissedHeartbeats = 101 } },
        { "phiThreshold", Valid with { PhiThreshold = 0.5, SuspectPhi = 0.25 } },
        { "phiThreshold", Valid with { PhiThreshold = double.PositiveInfinity } },
        { "suspectPhi", Valid with { SuspectPhi = 8 } },
        { "suspectPhi", Valid with { SuspectPhi = 0 } },
        { "minStdDeviation", Valid with { MinStdDeviation = TimeSpan.Zero } },
        { "acceptablePause", Valid with { AcceptablePause = TimeSpan.FromSeconds(-1) } },
        { "sampleWindow", Valid with { SampleWindow = 1 } },
        { "sampleWindow", Valid with { SampleWindow = 10_001 } },
        { "downAfter", Valid with { DownAfter = 0 } },
        { "upAfter", Valid with { UpAfter = 101 } },
        { "evaluationInterval", Valid with { EvaluationInterval = TimeSpan.FromMilliseconds(5) } },
        { "evaluationInterval", Valid with { EvaluationInterval = TimeSpan.FromMinutes(2) } },
        { "removeAfter", Valid with { RemoveAfter = TimeSpan.Zero } },
    };

    [Fact]
    public void Validate_Defaults_NoErrors() => Assert.Empty(DetectorOptionsValidator.Validate(Valid));

    [Fact]
    public void Validate_PhiDefaults_NoErrors() =>
        Assert.Empty(DetectorOptionsValidator.Validate(Valid with { Kind = DetectorKind.PhiAccrual, RemoveAfter = TimeSpan.FromMinutes(5) }));

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Validate_BadField_ReportsExactlyThatField(string field, DetectorOptions options)
    {
        var errors = DetectorOptionsValidator.Validate(options);
        Assert.Equal([field], errors.Select(e => e.Field));
        Assert.False(string.IsNullOrWhiteSpace(errors[0].Message));
    }

    [Fact]
    public void Validate_ManyBadFields_ReportsEach() =>
        Assert.Equal(3, DetectorOptionsValidator.Validate(Valid with { DownAfter = 0, UpAfter = 0, SampleWindow = 0 }).Count);
}
