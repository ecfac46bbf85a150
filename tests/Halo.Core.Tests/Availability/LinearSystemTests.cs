using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

public sealed class LinearSystemTests
{
    [Fact]
    public void Solve_ThreeByThree_ReturnsKnownSolution()
    {
        // 2x + y − z = 8; −3x − y + 2z = −11; −2x + y + 2z = −3 → (2, 3, −1).
        var x = LinearSystem.Solve(new double[,] { { 2, 1, -1 }, { -3, -1, 2 }, { -2, 1, 2 } }, [8, -11, -3]);
        Assert.Equal(2, x[0], 1e-12);
        Assert.Equal(3, x[1], 1e-12);
        Assert.Equal(-1, x[2], 1e-12);
    }

    [Fact]
    public void Solve_ZeroLeadingPivot_PivotsRows()
    {
        var x = LinearSystem.Solve(new double[,] { { 0, 1 }, { 1, 0 } }, [5, 7]);
        Assert.Equal([7.0, 5.0], x);
    }

    [Fact]
    public void Solve_Singular_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => LinearSystem.Solve(new double[,] { { 1, 2 }, { 2, 4 } }, [1, 2]));
    }

    [Fact]
    public void Stationary_TwoStateChain_IsRepairOverTotal()
    {
        var pi = LinearSystem.Stationary(new double[,] { { 0, 0.01 }, { 0.5, 0 } });
        Assert.Equal(0.5 / 0.51, pi[0], 1e-14);
        Assert.Equal(0.01 / 0.51, pi[1], 1e-14);
    }
}
