"""Host-side stand-ins for guest drivers: they program a device model's registers and rings
in guest memory exactly as a guest driver would, so a model can be tested on its own."""
