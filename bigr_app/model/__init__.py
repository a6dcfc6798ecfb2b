"""The networks and their files: configs, the binary autoencoder (tokenizer), the backbone, the transcoder's
denoising net, BiGR (backbone + transcoder), our weights folders, the release's checkpoints, the Hub."""
