namespace Halo.Store.Embedded;

/// <summary>
/// One committed change with its position in the log. A revision can hold several changes
/// (a transaction, a lease revoke), so the position is (revision, sequence) and watches de-duplicate on it.
/// </summary>
internal readonly record struct ChangeRecord(long Revision, int Sequence, WatchEvent Event)
{
    public bool IsAfter(long revision, int sequence) =>
        Revision > revision || (Revision == revision && Sequence > sequence);
}
