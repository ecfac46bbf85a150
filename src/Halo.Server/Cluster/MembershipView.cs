using System.Collections.Concurrent;
using Halo.Core.Cluster;
using Halo.Store;

namespace Halo.Server.Cluster;

/// <summary>One `halo server` in the membership: its id, where peers reach it, and the revision that created its key (its fencing token).</summary>
internal sealed record Member(string Id, Uri Url, long CreateRevision);

/// <summary>
/// The live servers as this server last saw them (immutable, swapped whole on every change) and which services each owns.
/// A service belongs to one member by rendezvous hashing of its name, so the mass-failure brake keeps a whole view of it;
/// every server that sees the same members computes the same owners without asking anyone.
/// </summary>
internal sealed class MembershipView
{
    private readonly ConcurrentDictionary<string, Member?> _owners = new(StringComparer.Ordinal);
    private readonly Compare[] _fence;

    public MembershipView(IReadOnlyList<Member> members, Member? self, bool clustered, long revision)
    {
        Members = members;
        Self = self;
        Clustered = clustered;
        Revision = revision;
        _fence = clustered && self is not null
            ? [new Compare(ClusterKeys.Server(self.Id), CompareTarget.CreateRevision, CompareOp.Equal, self.CreateRevision)]
            : [];
    }

    /// <summary>The one server of a server that shares its store with nobody: it owns everything and needs no fence.</summary>
    public static MembershipView Single { get; } = new([new Member("local", new Uri("http://127.0.0.1/"), 0)], null, clustered: false, 0);

    /// <summary>Every live, ready server (this one included while it is a member), ordered by id.</summary>
    public IReadOnlyList<Member> Members { get; }

    /// <summary>This server while it is a member; null before it has joined and while it is fenced (its lease may have lapsed).</summary>
    public Member? Self { get; }

    public bool Clustered { get; }

    /// <summary>The store revision of the membership change this view reflects (0 for a single server).</summary>
    public long Revision { get; }

    /// <summary>The member that owns <paramref name="service"/>, or null when there are no members.</summary>
    public Member? OwnerOf(string service) => _owners.GetOrAdd(service, static (s, members) => Rendezvous.Owner(s, members, m => m.Id), Members);

    /// <summary>True when this server judges <paramref name="service"/>: always for a single server, by rendezvous hashing otherwise.</summary>
    public bool Owns(string service) => !Clustered || (Self is not null && OwnerOf(service)?.Id == Self.Id);

    /// <summary>
    /// Compares every owner's write carries: this server's membership key still has the create revision it joined with, so a
    /// server whose lease lapsed (paused, cut off) cannot publish a verdict after its instances moved (Temporal's range id).
    /// Empty for a single server.
    /// </summary>
    public IReadOnlyList<Compare> Fence => _fence;
}

/// <summary>The store layout of the membership.</summary>
internal static class ClusterKeys
{
    public const string ServersPrefix = "cluster/servers/";

    public static string Server(string id) => ServersPrefix + id;
}
