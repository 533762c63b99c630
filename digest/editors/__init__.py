"""What editors do, as services the editors' web app and the command line both call:
accounts and sign-in, the dashboard, approval, corrections of the next
issue, and managing feeds, topics and subscribers."""
