module sbxlayer
go 1.19
