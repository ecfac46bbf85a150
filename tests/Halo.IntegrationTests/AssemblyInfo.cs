// These tests start and kill real processes and measure detection and failover times against configured
// bounds; running them one at a time keeps a 2-core machine's scheduling from deciding the outcome.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
