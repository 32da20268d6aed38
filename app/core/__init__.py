"""The application between the network and the web: reading drawings with the loaded models, the training
lab's jobs, the errors it reports as values, and how a DigitPad process is set up."""
