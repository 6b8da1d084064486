namespace EdgeMask.Messaging; internal static class AssemblyMarker {}
