using System.Diagnostics;
using Halo.Core.Failover;
using Npgsql;

namespace Halo.IntegrationTests.Postgres;

/// <summary>A replica that fell too far behind is never promoted, even when it is the only one left.</summary>
[Collection("postgres-failover")]
public sealed class PostgresLagTests
{
    [Fact]
    public async Task PrimaryKilled_OnlyReplicaBeyondMaxLag_IsNotPromoted()
    {
        var policy = new GroupPolicy { AntiFlapWindow = TimeSpan.Zero, MaxLagBytes = 64 * 1024 };
        await using var c = await PostgresCluster.StartAsync(policy, members: 2);
        var before = await c.StatusAsync();
        var primary = c[before.Primary!];
        var replica = c.Members.Single(m => m.Name != before.Primary);

        // Freeze the replica's WAL receiver (SIGSTOP): its agent still reports, its position stops.
        int receiver;
        await using (var conn = new NpgsqlConnection(c.Connection(replica.Options.Port)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT pid FROM pg_stat_wal_receiver", conn);
            receiver = (int)(await cmd.ExecuteScalarAsync())!;
        }

        using (Process.Start("kill", ["-STOP", receiver.ToString()])!)
        {
        }

        try
        {
            await using (var conn = new NpgsqlConnection(c.Connection(primary.Options.Port)))
            {
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g", conn);
                await cmd.ExecuteNonQueryAsync();
            }

            await c.WaitAsync(s => s.Members.Single(m => m.Name == replica.Name).Lag > policy.MaxLagBytes, TimeSpan.FromSeconds(20), "the replica to fall behind");
            c.KillPostmaster(primary);
            await c.WaitAsync(s => !s.Members.Single(m => m.Name == primary.Name).DbUp, TimeSpan.FromSeconds(20), "the primary reported down");
            await Task.Delay(TimeSpan.FromSeconds(3));
            var after = await c.StatusAsync();
            var why = $"before {System.Text.Json.JsonSerializer.Serialize(before)}\nafter {System.Text.Json.JsonSerializer.Serialize(after)}\n{string.Join('\n', c.Log.TakeLast(40))}";
            Assert.True(before.Epoch == after.Epoch && before.Primary == after.Primary, why);
        }
        finally
        {
            using (Process.Start("kill", ["-CONT", receiver.ToString()])!)
            {
            }
        }
    }
}
