return 0; // replaced by the dashboard host
