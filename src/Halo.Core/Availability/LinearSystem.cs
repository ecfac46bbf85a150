namespace Halo.Core.Availability;

/// <summary>Dense linear solver for the handful of Markov states the models need.</summary>
public static class LinearSystem
{
    /// <summary>
    /// Solves A·x = b by Gaussian elimination with partial pivoting (largest pivot in the column, so
    /// rates that differ by many orders of magnitude — seconds of failover against years of MTBF — do
    /// not wipe out precision). Inputs are not modified.
    /// </summary>
    public static double[] Solve(double[,] a, double[] b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var n = b.Length;
        if (a.GetLength(0) != n || a.GetLength(1) != n)
        {
            throw new ArgumentException("matrix must be square and match the right-hand side", nameof(a));
        }

        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var row = col + 1; row < n; row++)
            {
                if (Math.Abs(m[row, col]) > Math.Abs(m[pivot, col]))
                {
                    pivot = row;
                }
            }

            if (m[pivot, col] == 0)
            {
                throw new InvalidOperationException("singular system");
            }

            if (pivot != col)
            {
                for (var j = 0; j < n; j++)
                {
                    (m[col, j], m[pivot, j]) = (m[pivot, j], m[col, j]);
                }

                (x[col], x[pivot]) = (x[pivot], x[col]);
            }

            for (var row = col + 1; row < n; row++)
            {
                var factor = m[row, col] / m[col, col];
                if (factor == 0)
                {
                    continue;
                }

                for (var j = col; j < n; j++)
                {
                    m[row, j] -= factor * m[col, j];
                }

                x[row] -= factor * x[col];
            }
        }

        for (var row = n - 1; row >= 0; row--)
        {
            var sum = x[row];
            for (var j = row + 1; j < n; j++)
            {
                sum -= m[row, j] * x[j];
            }

            x[row] = sum / m[row, row];
        }

        return x;
    }

    /// <summary>
    /// Stationary distribution π of a continuous-time Markov chain with generator rates
    /// <paramref name="rates"/>[i, j] (i ≠ j; the diagonal is ignored): solves πQ = 0 with Σπ = 1 by
    /// replacing one balance equation with the normalisation.
    /// </summary>
    public static double[] Stationary(double[,] rates)
    {
        ArgumentNullException.ThrowIfNull(rates);
        var n = rates.GetLength(0);
        var a = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                if (i != j)
                {
                    // Row j of Qᵀ: inflow into j from i, minus (below) the outflow of j.
                    a[j, i] += rates[i, j];
                    a[i, i] -= rates[i, j];
                }
            }
        }

        var b = new double[n];
        for (var j = 0; j < n; j++)
        {
            a[n - 1, j] = 1;
        }

        b[n - 1] = 1;
        return Solve(a, b);
    }
}
