using System.Reflection;
using Azure.Messaging.EventHubs.Primitives;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// The Event Hubs SDK's own load balancer (<c>Azure.Messaging.EventHubs.Primitives.PartitionLoadBalancer</c>, internal
/// to the package), driven the way the SDK's tests drive it: construct it over a <see cref="CheckpointStore"/> and call
/// <c>RunLoadBalancingAsync(partitionIds)</c> once per cycle. This is the code every event processor runs each
/// <c>LoadBalancingUpdateInterval</c>; a processor cannot list partitions without a hub, the balancer needs none.
/// Reached by reflection because the type is internal; the package version is pinned, and a change of these
/// members fails here loudly rather than silently.
/// </summary>
internal sealed class SdkLoadBalancer
{
    private static readonly Type BalancerType =
        typeof(CheckpointStore).Assembly.GetType("Azure.Messaging.EventHubs.Primitives.PartitionLoadBalancer", throwOnError: true)!;
    private readonly object _balancer;

    /// <remarks>
    /// The last argument is the load-balancing interval: the balancer renews only claims older than it. A processor's
    /// cycles are that interval apart, so every cycle renews; here cycles follow each other at once, so it is zero.
    /// </remarks>
    public SdkLoadBalancer(CheckpointStore store, string owner, string fullyQualifiedNamespace, string eventHubName, string consumerGroup,
        TimeSpan ownershipExpiration)
    {
        OwnerId = owner;
        _balancer = Activator.CreateInstance(BalancerType, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, null,
            [store, owner, consumerGroup, fullyQualifiedNamespace, eventHubName, ownershipExpiration, TimeSpan.Zero], null)!;
    }

    public string OwnerId { get; }

    public IReadOnlyList<string> OwnedPartitionIds =>
        [.. ((IEnumerable<string>)BalancerType.GetProperty("OwnedPartitionIds")!.GetValue(_balancer)!).Order(StringComparer.Ordinal)];

    public bool IsBalanced => (bool)BalancerType.GetProperty("IsBalanced")!.GetValue(_balancer)!;

    /// <summary>One load-balancing cycle: renew own claims, list all, claim or steal at most one partition.</summary>
    public async Task RunCycleAsync(string[] partitionIds)
    {
        var cycle = (ValueTask<EventProcessorPartitionOwnership>)BalancerType.GetMethod("RunLoadBalancingAsync")!
            .Invoke(_balancer, [partitionIds, CancellationToken.None])!;
        await cycle;
    }

    /// <summary>What a processor does when it stops: hands every partition back (owner set to empty).</summary>
    public Task RelinquishAsync() =>
        (Task)BalancerType.GetMethod("RelinquishOwnershipAsync")!.Invoke(_balancer, [CancellationToken.None])!;
}
