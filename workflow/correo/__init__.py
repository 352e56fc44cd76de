"""Mail that is not a transition's: the reminders of the calendar."""
