"""Platform adapters: each turns platform updates into `Incoming` and renders `Reply`."""
