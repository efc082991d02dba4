module secllama

go 1.19
