namespace EdgeMask.IoTHub; internal static class AssemblyMarker {}
