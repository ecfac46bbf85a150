namespace Halo.Core.Monitoring;

/// <summary>
/// Measures availability from a history of member state changes, the way an SLO report would: a subject is
/// down while fewer than <c>minimumUp</c> of its members are up, and time in which it had no members at all
/// (before it was first registered, after its last member left) is not observed rather than counted as down,
/// so a service deployed mid-window is not penalised for not existing. Pure: no clock, no I/O.
/// </summary>
public static class AvailabilityCalculator
{
    /// <summary>
    /// Availability of every subject seen in <paramref name="changes"/> over [<paramref name="start"/>, <paramref name="end"/>).
    /// Changes before <paramref name="start"/> establish the state at the start; changes need not be sorted.
    /// </summary>
    public static IReadOnlyList<SubjectAvailability> Compute(
        IEnumerable<MemberStateChange> changes, DateTimeOffset start, DateTimeOffset end, int minimumUp = 1)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentOutOfRangeException.ThrowIfLessThan(minimumUp, 1);
        if (end < start)
        {
            throw new ArgumentException("the window must not end before it starts", nameof(end));
        }

        // A stable sort keeps same-instant changes in recorded order: the last word for a member wins.
        return changes.Where(c => c.Time < end)
            .OrderBy(c => c.Time)
            .GroupBy(c => c.Subject, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Measure(g.Key, g, start, end, minimumUp))
            .ToList();
    }

    private static SubjectAvailability Measure(string subject, IEnumerable<MemberStateChange> ordered, DateTimeOffset start, DateTimeOffset end, int minimumUp)
    {
        var members = new Dictionary<string, MemberState>(StringComparer.Ordinal);
        var tally = new Tally(start, end);
        DateTimeOffset? since = null;
        foreach (var change in ordered)
        {
            if (since is { } from)
            {
                tally.Add(from, change.Time, members, minimumUp);
            }

            if (change.State == MemberState.Gone)
            {
                members.Remove(change.Member);
            }
            else
            {
                members[change.Member] = change.State;
            }

            since = change.Time;
        }

        if (since is { } last)
        {
            tally.Add(last, end, members, minimumUp);
        }

        tally.CloseOutage();
        return new SubjectAvailability
        {
            Subject = subject,
            Observed = tally.Observed,
            Down = tally.Down,
            Outages = tally.Outages,
            LongestOutage = tally.Longest,
            MemberAvailability = tally.MemberObserved > TimeSpan.Zero ? tally.MemberUp / tally.MemberObserved : null,
        };
    }

    /// <summary>Accumulates one subject's segments, each clipped to the window.</summary>
    private sealed class Tally(DateTimeOffset windowStart, DateTimeOffset windowEnd)
    {
        private TimeSpan _currentOutage;

        public TimeSpan Observed { get; private set; }
        public TimeSpan Down { get; private set; }
        public int Outages { get; private set; }
        public TimeSpan Longest { get; private set; }
        public TimeSpan MemberObserved { get; private set; }
        public TimeSpan MemberUp { get; private set; }

        public void Add(DateTimeOffset from, DateTimeOffset to, Dictionary<string, MemberState> members, int minimumUp)
        {
            var length = Clip(to) - Clip(from);
            if (length <= TimeSpan.Zero)
            {
                return;
            }

            if (members.Count == 0)
            {
                // Unobserved time splits outages: a service that vanished and came back had two.
                CloseOutage();
                return;
            }

            var up = members.Values.Count(s => s == MemberState.Up);
            Observed += length;
            MemberObserved += length * members.Count;
            MemberUp += length * up;
            if (up >= minimumUp)
            {
                CloseOutage();
            }
            else
            {
                Down += length;
                _currentOutage += length;
            }
        }

        public void CloseOutage()
        {
            if (_currentOutage > TimeSpan.Zero)
            {
                Outages++;
                Longest = _currentOutage > Longest ? _currentOutage : Longest;
                _currentOutage = TimeSpan.Zero;
            }
        }

        private DateTimeOffset Clip(DateTimeOffset t) => t < windowStart ? windowStart : t > windowEnd ? windowEnd : t;
    }
}
