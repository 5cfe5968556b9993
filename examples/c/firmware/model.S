/* The model file, embedded in flash 64-byte aligned (MODEL_FILE: its path, from the build). */
    .section .mynah_model, "a"
    .balign 64
    .global model_file, model_file_end
model_file:
    .incbin MODEL_FILE
model_file_end:
