"""The command line: the only package that imports click, rich and platformdirs."""
