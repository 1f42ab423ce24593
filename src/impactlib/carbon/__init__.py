"""Carbon intensity: providers answer gCO2e/kWh over time for a zone; pricing multiplies."""
