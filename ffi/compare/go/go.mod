module example.com/compare

go 1.19

require secllama v0.0.0

replace secllama => ../../go
