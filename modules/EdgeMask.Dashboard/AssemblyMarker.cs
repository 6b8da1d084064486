namespace EdgeMask.Dashboard; internal static class AssemblyMarker {}
