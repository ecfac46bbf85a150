namespace Halo.Gateway.Proxy.Engine;

/// <summary>Something registered with an <see cref="EventLoop"/>: told, on the loop's thread, which readiness events arrived.</summary>
internal interface IEventTarget
{
    void OnEvents(uint events);
}
