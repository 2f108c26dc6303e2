"""Cases: resident intake, the case lifecycle, public tracking."""
