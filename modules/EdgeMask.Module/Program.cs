using EdgeMask.Module.Cli;

return await EdgeMaskCommandLine.RunAsync(args);
