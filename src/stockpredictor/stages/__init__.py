"""One plain function per pipeline stage; the CLI, the KFP components and the tests call these."""
