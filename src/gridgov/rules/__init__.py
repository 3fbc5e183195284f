"""Detection rules: what the data says happened (registry changes, doubtful matches) → verification tasks."""
