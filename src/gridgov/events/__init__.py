"""Event handling: taxonomy, intake, dispatch, the whistle, deadlines and the closed loop."""
