#include "cpu/attention.h"
#include <chrono>
#include <cstdio>
#include <vector>
using namespace alibi::cpu;
int main(){
  int64_t B=8,T=128,H=4,D=32,C=H*D;
  std::vector<float> qkv(B*T*3*C),out(B*T*C),lse(B*H*T),dqkv(B*T*3*C),dout(B*T*C),sl={0.25f,0.0625f,0.0156f,0.0039f};
  for(size_t i=0;i<qkv.size();++i) qkv[i]=((i*37)%101)*0.01f-0.5f;
  for(size_t i=0;i<dout.size();++i) dout[i]=((i*13)%17)*0.01f;
  attention_forward(out.data(),lse.data(),qkv.data(),sl.data(),B,T,H,D);
  int reps=20; auto t0=std::chrono::steady_clock::now();
  for(int r=0;r<reps;++r) attention_forward(out.data(),lse.data(),qkv.data(),sl.data(),B,T,H,D);
  auto t1=std::chrono::steady_clock::now();
  for(int r=0;r<reps;++r) attention_backward(dqkv.data(),dout.data(),qkv.data(),out.data(),lse.data(),sl.data(),B,T,H,D);
  auto t2=std::chrono::steady_clock::now();
  printf("attn B8 T128 H4 D32: fwd %.3f ms bwd %.3f ms\n",std::chrono::duration<double>(t1-t0).count()/reps*1e3,std::chrono::duration<double>(t2-t1).count()/reps*1e3);
}
