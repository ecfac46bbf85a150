using Halo.Bench;

// Modes are the first argument; each prints one result line that run.sh parses.
var mode = args.Length > 0 ? args[0] : "";
var options = new Args(args);
try
{
    return mode switch
    {
        "embedded-put" => await PutModes.EmbeddedAsync(options),
        "etcd-put" => await PutModes.EtcdAsync(options),
        "register" => await HttpModes.RegisterAsync(options),
        "heartbeat" => await HeartbeatMode.RunAsync(options),
        "heartbeat-max" => await HeartbeatMode.RunMaxAsync(options),
        "feed" => await FeedModes.HaloAsync(options),
        "etcd-watch" => await FeedModes.EtcdAsync(options),
        "crash-writer" => await CrashWriterMode.RunAsync(options),
        _ => Usage(),
    };
}
catch (ArgumentException error)
{
    Console.Error.WriteLine(error.Message);
    return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: Halo.Bench <mode> [options]
          embedded-put --dir D --concurrency C --seconds S
          etcd-put     --endpoints URL --concurrency C --seconds S
          register     --server URL --count N --concurrency C
          heartbeat    --server URL[,URL...] --instances N --rate-hz R --seconds S [--single] [--batch-size B] [--concurrency C]
          heartbeat-max --server URL --instances N --seconds S --concurrency C [--tokens K]   (closed loop: the sustained rate; K register tokens, default C/8)
          feed         --server URL --count N          (GET /v1/watch?from=0: changes/s replayed to a follower)
          etcd-watch   --endpoints URL --count N       (an etcd watch on bench/ from revision 1: the same for etcd)
          crash-writer --dir D --prefix P --count N --concurrency C   (test helper: prints "ack KEY" per durable put)
        """);
    return 2;
}
