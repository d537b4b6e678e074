"""`python -m auraquant …`: the same CLI as the `auraquant` command. The current directory was already
dropped from `sys.path` when the package was imported (see `auraquant._syspath`), so a workspace's own
`cta_runtime/` cannot shadow the built-in one."""

from auraquant.cli import main

main()
