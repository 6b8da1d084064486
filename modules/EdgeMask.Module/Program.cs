using EdgeMask.Module.Cli;
using EdgeMask.Module.Hosting;

// Before any native library allocates: see NativeAllocator for why a long-running device needs it.
NativeAllocator.Configure();
return await EdgeMaskCommandLine.RunAsync(args);
