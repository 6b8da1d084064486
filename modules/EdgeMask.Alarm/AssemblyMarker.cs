namespace EdgeMask.Alarm; internal static class AssemblyMarker {}
