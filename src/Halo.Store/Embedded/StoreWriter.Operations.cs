namespace Halo.Store.Embedded;

/// <summary>The mutations, each run on the writer loop inside the current batch transaction.</summary>
internal sealed partial class StoreWriter
{
    public long Put(string key, ReadOnlyMemory<byte> value, long leaseId)
    {
        RequireLease(leaseId);
        PutKey(KeyRange.ToBytes(key), key, value, leaseId);
        return _revision;
    }

    public DeleteResult Delete(string key, bool prefix)
    {
        if (!prefix)
        {
            return new DeleteResult(DeleteKey(KeyRange.ToBytes(key), key) ? 1 : 0, _revision);
        }

        var deleted = 0L;
        foreach (var bytes in _sql.Keys(key))
        {
            deleted += DeleteKey(bytes) ? 1 : 0;
        }

        // As in etcd, deleting nothing writes nothing and does not move the revision.
        return new DeleteResult(deleted, _revision);
    }

    public TxnResult Txn(TxnRequest request)
    {
        var succeeded = request.Compares.All(Holds);
        var ops = succeeded ? request.Success : request.Failure;
        ValidateWrites(ops);
        var gets = new List<KeyValue?>();
        foreach (var op in ops)
        {
            var bytes = KeyRange.ToBytes(op.Key);
            switch (op.Type)
            {
                case TxnOpType.Put:
                    PutKey(bytes, op.Key, op.Value, op.LeaseId);
                    break;
                case TxnOpType.Delete:
                    DeleteKey(bytes, op.Key);
                    break;
                default:
                    // Reads see the writes made earlier in the same transaction, as etcd's do.
                    gets.Add(_sql.Get(bytes));
                    break;
            }
        }

        return new TxnResult(succeeded, _revision, gets);
    }

    public Lease Grant(long ttlSeconds)
    {
        var id = ++_lastLeaseId;
        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        var deadline = _time.GetUtcNow() + ttl;
        _sql.Execute(
            "INSERT INTO leases(id, ttl_seconds, expires_at_ms) VALUES ($id, $ttl, $at)",
            ("$id", id), ("$ttl", ttlSeconds), ("$at", deadline.ToUnixTimeMilliseconds()));
        _sql.SetMeta("last_lease_id", id);
        _leases[id] = new LeaseState(ttl, deadline);
        return new Lease(id, ttl);
    }

    /// <summary>
    /// Renewal lives in memory only: after a restart every lease gets a fresh full TTL anyway,
    /// so persisting each keep-alive would cost an fsync and buy nothing.
    /// </summary>
    public bool KeepAlive(long leaseId)
    {
        var now = _time.GetUtcNow();
        if (!_leases.TryGetValue(leaseId, out var lease) || lease.Deadline <= now)
        {
            return false;
        }

        _leases[leaseId] = lease with { Deadline = now + lease.Ttl };
        return true;
    }

    public int Revoke(long leaseId)
    {
        if (!_leases.Remove(leaseId))
        {
            return 0;
        }

        var keys = _sql.Keys(prefix: null, leaseId);
        foreach (var key in keys)
        {
            DeleteKey(key);
        }

        _sql.Execute("DELETE FROM leases WHERE id = $id", ("$id", leaseId));
        return keys.Count;
    }

    public int ExpireLeases()
    {
        Volatile.Write(ref _expiryQueued, 0);
        var now = _time.GetUtcNow();
        var expired = _leases.Where(l => l.Value.Deadline <= now).Select(l => l.Key).ToList();
        foreach (var leaseId in expired)
        {
            // Each expiry is its own revision, as each is its own revoke in etcd.
            var keys = Revoke(leaseId);
            Log.LeaseExpired(_logger, leaseId, keys, _revision);
            _revisionOpen = false;
        }

        return expired.Count;
    }

    /// <summary>etcd's Compact: history before <paramref name="revision"/> goes; the revision itself stays watchable.</summary>
    public long Compact(long revision)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(revision, _revision);
        if (revision - 1 > _compactRevision)
        {
            CompactTo(revision - 1);
        }

        return _compactRevision;
    }

    private void CompactTo(long revision)
    {
        _sql.Execute("DELETE FROM changes WHERE rev <= $rev", ("$rev", revision));
        _sql.SetMeta("compact_revision", revision);
        _compactRevision = revision;
    }

    private void RequireLease(long leaseId)
    {
        if (leaseId != 0 && !_leases.ContainsKey(leaseId))
        {
            throw new LeaseNotFoundException(leaseId);
        }
    }

    private void ValidateWrites(IReadOnlyList<TxnOp> ops)
    {
        // A registration writes two keys: compare them pairwise; a set only for large transactions (the pruner's 100 deletes).
        var written = ops.Count > 8 ? new HashSet<string>(StringComparer.Ordinal) : null;
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            if (op.Type == TxnOpType.Get)
            {
                continue;
            }

            // etcd rejects a transaction that writes one key twice; so do we, for the same answers on both stores.
            if (written is not null ? !written.Add(op.Key) : WrittenBefore(ops, i))
            {
                throw new ArgumentException($"duplicate key given in txn request: {op.Key}", nameof(ops));
            }

            if (op.Type == TxnOpType.Put)
            {
                RequireLease(op.LeaseId);
            }
        }
    }

    private static bool WrittenBefore(IReadOnlyList<TxnOp> ops, int index)
    {
        for (var j = 0; j < index; j++)
        {
            if (ops[j].Type != TxnOpType.Get && string.Equals(ops[j].Key, ops[index].Key, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private bool Holds(Compare compare)
    {
        if (compare.Target == CompareTarget.Value)
        {
            // etcd: a value compare against a missing key is false whatever the operator.
            var item = _sql.Get(KeyRange.ToBytes(compare.Key));
            return item is not null && Matches(compare.Op, item.Value.Span.SequenceCompareTo(compare.Value.Span));
        }

        var (created, modified, version) = _sql.Revisions(KeyRange.ToBytes(compare.Key));
        var actual = compare.Target switch
        {
            CompareTarget.ModRevision => modified,
            CompareTarget.CreateRevision => created,
            _ => version,
        };
        return Matches(compare.Op, actual.CompareTo(compare.Number));
    }

    private static bool Matches(CompareOp op, int comparison) => op switch
    {
        CompareOp.Equal => comparison == 0,
        CompareOp.NotEqual => comparison != 0,
        CompareOp.Less => comparison < 0,
        _ => comparison > 0,
    };

    private long WriteRevision()
    {
        // A command's writes share one revision, opened by its first write (a transaction bumps it once).
        if (!_revisionOpen)
        {
            _revision++;
            _sequence = 0;
            _revisionOpen = true;
        }

        return _revision;
    }

    private void PutKey(byte[] bytes, string key, ReadOnlyMemory<byte> value, long leaseId)
    {
        var revision = WriteRevision();
        // Copy once: the caller may reuse its buffer after the put returns, but events outlive it.
        var copy = value.ToArray();
        var (created, version) = _sql.Put(bytes, copy, revision, leaseId);
        Record(WatchEventType.Put, bytes, new KeyValue(key, copy, created, revision, version, leaseId));
    }

    private bool DeleteKey(byte[] bytes, string? key = null)
    {
        // Whether it exists is all a delete needs to know: the pruner deletes events by the hundred, and reading each
        // value first copied every one of them.
        if (_sql.Revisions(bytes).CreateRevision == 0)
        {
            return false;
        }

        var revision = WriteRevision();
        _sql.Delete(bytes);
        Record(WatchEventType.Delete, bytes, new KeyValue(key ?? KeyRange.FromBytes(bytes), ReadOnlyMemory<byte>.Empty, 0, revision, 0, 0));
        return true;
    }

    private void Record(WatchEventType type, byte[] key, KeyValue item)
    {
        var change = new ChangeRecord(_revision, _sequence++, new WatchEvent(type, item));
        _sql.AppendChange(change, key);
        _pending.Add(change);
    }
}
