using EdgeMask.Training;

return TrainCli.Build().Parse(args).Invoke();
