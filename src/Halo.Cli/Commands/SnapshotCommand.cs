using System.CommandLine;
using Halo.Client;
using Halo.Store;

namespace Halo.Cli.Commands;

/// <summary>
/// `halo snapshot save FILE` / `halo snapshot restore FILE`: the whole control-plane state at one revision, from either
/// store into either store (docs/ha.md: moving from one server to several). Save reads a running server (--server) or a
/// store directly (--data of a stopped embedded server, or --etcd); restore writes a store directly, before servers start
/// on it, and refuses a store that holds anything unless --force.
/// </summary>
internal static class SnapshotCommand
{
    public static Command Create()
    {
        var command = new Command("snapshot", "Save or restore the whole control-plane state (instances, drains, groups, events)");
        command.Subcommands.Add(Save());
        command.Subcommands.Add(Restore());
        return command;
    }

    private static Command Save()
    {
        var file = new Argument<string>("file") { Description = "Where to write the snapshot (replaced atomically)" };
        var (data, etcd, tls) = StoreOptions("read");
        var command = new Command("save", "Write the control-plane state to FILE: from a server (--server), or from a store (--data, --etcd)") { file, data, etcd, tls.Ca, tls.Certificate, tls.Key };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var path = parse.GetValue(file)!;
            StoreSnapshot snapshot;
            if (await OpenStoreAsync(parse.GetValue(data), parse.GetValue(etcd), TlsFiles(parse, tls), create: false, ct) is { } store)
            {
                await using (store)
                {
                    snapshot = await StoreSnapshot.TakeAsync(store, TimeProvider.System, ct);
                }
            }
            else
            {
                using var http = HaloHttp.CreateClient(CommonOptions.ClientOptions(parse));
                using var response = await http.GetAsync(new Uri("v1/snapshot", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, ct);
                await HaloApiException.ThrowIfFailedAsync(response, ct);
                await using var body = await response.Content.ReadAsStreamAsync(ct);
                snapshot = await StoreSnapshot.ReadAsync(body, "the server's answer", ct);
            }

            try
            {
                await snapshot.WriteAsync(path, ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"file: cannot write '{path}': {ex.Message}");
            }

            Console.WriteLine($"saved {snapshot.Keys.Count} keys at revision {snapshot.Revision} to {Path.GetFullPath(path)}");
            return 0;
        }));
        return command;
    }

    private static Command Restore()
    {
        var file = new Argument<string>("file") { Description = "A snapshot written by halo snapshot save" };
        var (data, etcd, tls) = StoreOptions("write");
        var force = new Option<bool>("--force") { Description = "Replace whatever the target store holds (default: refuse a store that is not empty)" };
        var command = new Command("restore", "Load FILE into a store (--data or --etcd) before servers start on it") { file, data, etcd, tls.Ca, tls.Certificate, tls.Key, force };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new CliException($"file: no such file '{path}'");
            }

            StoreSnapshot snapshot;
            try
            {
                snapshot = await StoreSnapshot.ReadAsync(path, ct);
            }
            catch (FormatException ex)
            {
                throw new CliException(ex.Message);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"file: cannot read '{path}': {ex.Message}");
            }

            await using var store = await OpenStoreAsync(parse.GetValue(data), parse.GetValue(etcd), TlsFiles(parse, tls), create: true, ct)
                ?? throw new CliException("restore writes a store directly: give --data DIR (embedded, server stopped) or --etcd URLS");
            try
            {
                var written = await snapshot.RestoreAsync(store, parse.GetValue(force), ct);
                Console.WriteLine($"restored {written} keys (taken at revision {snapshot.Revision}, {snapshot.TakenAt:u}) from {Path.GetFullPath(path)}");
            }
            catch (InvalidOperationException ex)
            {
                throw new CliException($"restore refused, nothing written: {ex.Message}; pass --force to replace everything in it");
            }
            catch (StoreUnavailableException ex)
            {
                // etcd cannot make a restore of many transactions atomic: say what state the store is left in.
                throw new CliException($"the store failed during the restore ({ex.Message}); it may hold part of the snapshot: run the restore again with --force");
            }

            return 0;
        }));
        return command;
    }

    private static (Option<string?> Data, Option<string?> Etcd, (Option<string?> Ca, Option<string?> Certificate, Option<string?> Key) Tls) StoreOptions(string verb) => (
        new Option<string?>("--data") { Description = $"The embedded store's data directory to {verb} (its server must be stopped)" },
        new Option<string?>("--etcd") { Description = $"etcd client URLs to {verb}, comma-separated" },
        ServerCommand.EtcdTlsOptions());

    private static EtcdTlsFiles TlsFiles(ParseResult parse, (Option<string?> Ca, Option<string?> Certificate, Option<string?> Key) tls) =>
        new(parse.GetValue(tls.Ca), parse.GetValue(tls.Certificate), parse.GetValue(tls.Key));

    private static async Task<IStore?> OpenStoreAsync(string? data, string? etcd, EtcdTlsFiles tls, bool create, CancellationToken ct)
    {
        if (data is not null && etcd is not null)
        {
            throw new CliException("--data and --etcd: give one store");
        }

        var endpoints = etcd is null ? null : ServerCommand.EtcdEndpoints(etcd);
        var etcdTls = ServerCommand.EtcdTls(endpoints, tls, new());
        try
        {
            if (endpoints is not null)
            {
                return await StoreFactory.OpenEtcdAsync(endpoints, ct, etcdTls);
            }

            if (data is not null)
            {
                if (!create && !Directory.Exists(data))
                {
                    throw new CliException($"--data: no such directory '{data}'");
                }

                return await StoreFactory.OpenEmbeddedAsync(data, ct);
            }
        }
        catch (StoreStartException ex)
        {
            throw new CliException(ex.Message);
        }

        return null;
    }
}
